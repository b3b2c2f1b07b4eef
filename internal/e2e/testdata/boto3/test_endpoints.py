"""Real-time endpoints driven by boto3's sagemaker and sagemaker-runtime clients, the way
SageMaker users and deploy scripts create models from the registry, build endpoint configs,
wait for endpoints and invoke them.

The server comes from the AWS_* variables the Go runner sets (a fresh server per script).
Model artifacts move into the artifact store through Sluice's objects API (/api/v1/objects),
signed with botocore's SigV4 signer. The XGBoost model is trained here with Debian's xgboost,
so the endpoint's answers are checked against real XGBoost predictions.
"""

import io
import json
import os
import tempfile
import time
import unittest
import urllib.parse

import numpy as np
import xgboost as xgb
from botocore.exceptions import ClientError

from sluice_clients import native, put, runtime, sm, tar_gz

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
FAST = {"Delay": 1, "MaxAttempts": 120}

INFERENCE = '''
import joblib, os
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
'''


def train_xgboost():
    """A small real XGBoost regression model, saved the way the SageMaker container saves it."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 4))
    y = x @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(scale=0.1, size=400)
    booster = xgb.train({"max_depth": 4, "eta": 0.3, "objective": "reg:squarederror"}, xgb.DMatrix(x, label=y), 30)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "xgboost-model.json")
        booster.save_model(path)
        with open(path, "rb") as f:
            model = f.read()
    return booster, model


def wait_in_service(c, name):
    c.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    return c.describe_endpoint(EndpointName=name)


def csv(rows):
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows)


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.booster, model = train_xgboost()
        cls.model_uri = put("s3://models/churn/1/model.tar.gz", tar_gz({"xgboost-model": model}))

    def test_xgboost_from_the_registry(self):
        c, rt = sm(), runtime()
        c.create_model_package_group(ModelPackageGroupName="churn")
        pkg = c.create_model_package(
            ModelPackageGroupName="churn", ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": self.model_uri}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
        c.create_model(ModelName="churn-v1", PrimaryContainer={"ModelPackageName": pkg["ModelPackageArn"]}, ExecutionRoleArn=ROLE)
        c.create_model(ModelName="churn-json", ExecutionRoleArn=ROLE,
                       PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": self.model_uri,
                                         "Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}})
        c.create_endpoint_config(EndpointConfigName="churn-cfg", ProductionVariants=[
            {"VariantName": "Primary", "ModelName": "churn-v1", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0},
            {"VariantName": "Canary", "ModelName": "churn-json", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0},
        ])
        c.create_endpoint(EndpointName="churn", EndpointConfigName="churn-cfg")
        d = wait_in_service(c, "churn")
        self.assertEqual(d["EndpointStatus"], "InService")
        variants = {v["VariantName"]: v for v in d["ProductionVariants"]}
        self.assertEqual(variants["Primary"]["CurrentInstanceCount"], 2)
        self.assertEqual(variants["Canary"]["CurrentWeight"], 1.0)
        self.assertEqual(variants["Primary"]["DeployedImages"][0]["SpecifiedImage"], XGB_IMAGE)

        # The answers are XGBoost's own predictions.
        rows = np.random.default_rng(3).normal(size=(5, 4))
        want = self.booster.predict(xgb.DMatrix(rows))
        r = rt.invoke_endpoint(EndpointName="churn", ContentType="text/csv", Body=csv(rows), TargetVariant="Primary")
        self.assertEqual(r["InvokedProductionVariant"], "Primary")
        self.assertEqual(r["ContentType"], "text/csv")
        got = [float(line) for line in r["Body"].read().decode().splitlines()]
        np.testing.assert_allclose(got, want, rtol=1e-5)

        r = rt.invoke_endpoint(EndpointName="churn", ContentType="text/csv", Body=csv(rows[:1]), TargetVariant="Canary")
        self.assertEqual(r["InvokedProductionVariant"], "Canary")
        self.assertAlmostEqual(json.loads(r["Body"].read())["predictions"][0]["score"], float(want[0]), places=4)

        # Without a target, traffic splits by weight.
        seen = {"Primary": 0, "Canary": 0}
        for _ in range(200):
            r = rt.invoke_endpoint(EndpointName="churn", ContentType="text/csv", Body="0,0,0,0")
            seen[r["InvokedProductionVariant"]] += 1
        self.assertTrue(60 < seen["Primary"] < 140, seen)

        # A row of the wrong width is the model's 400, reported as ModelError.
        with self.assertRaises(ClientError) as e:
            rt.invoke_endpoint(EndpointName="churn", ContentType="text/csv", Body="1,2")
        self.assertEqual(e.exception.response["Error"]["Code"], "ModelError")
        self.assertEqual(e.exception.response["OriginalStatusCode"], 400)
        self.assertIn("the model expects 4", e.exception.response["OriginalMessage"])

        with self.assertRaises(ClientError) as e:
            rt.invoke_endpoint(EndpointName="churn", ContentType="text/csv", Body="1,2,3,4", TargetVariant="Nope")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationError")
        with self.assertRaises(ClientError) as e:
            rt.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body="1,2,3,4")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationError")
        self.assertIn("Endpoint nope of account", e.exception.response["Error"]["Message"])

        # Weights change in place.
        c.update_endpoint_weights_and_capacities(EndpointName="churn", DesiredWeightsAndCapacities=[
            {"VariantName": "Canary", "DesiredWeight": 0.0}])
        wait_in_service(c, "churn")
        for _ in range(20):
            r = rt.invoke_endpoint(EndpointName="churn", ContentType="text/csv", Body="0,0,0,0")
            self.assertEqual(r["InvokedProductionVariant"], "Primary")

        # The config in use cannot go; the endpoint can.
        with self.assertRaises(ClientError) as e:
            c.delete_endpoint_config(EndpointConfigName="churn-cfg")
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceInUse")
        c.delete_endpoint(EndpointName="churn")
        c.get_waiter("endpoint_deleted").wait(EndpointName="churn", WaiterConfig=FAST)
        with self.assertRaises(ClientError) as e:
            c.describe_endpoint(EndpointName="churn")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        c.delete_endpoint_config(EndpointConfigName="churn-cfg")

    def test_unapproved_versions_are_refused(self):
        c = sm()
        c.create_model_package_group(ModelPackageGroupName="pending")
        pkg = c.create_model_package(ModelPackageGroupName="pending", InferenceSpecification={
            "Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": self.model_uri}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
        with self.assertRaises(ClientError) as e:
            c.create_model(ModelName="pending-v1", PrimaryContainer={"ModelPackageName": pkg["ModelPackageArn"]}, ExecutionRoleArn=ROLE)
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("PendingManualApproval", e.exception.response["Error"]["Message"])

    def test_bad_endpoint_configs(self):
        c = sm()
        c.create_model(ModelName="m", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": self.model_uri}, ExecutionRoleArn=ROLE)
        v = {"ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        cases = {
            "all weights zero": [dict(v, VariantName="a", InitialVariantWeight=0.0), dict(v, VariantName="b", InitialVariantWeight=0.0)],
            "duplicate variant names": [dict(v, VariantName="a"), dict(v, VariantName="a")],
            "unknown model": [dict(v, VariantName="a", ModelName="nope")],
        }
        for name, variants in cases.items():
            with self.subTest(name):
                with self.assertRaises(ClientError) as e:
                    c.create_endpoint_config(EndpointConfigName="bad", ProductionVariants=variants)
                self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        with self.assertRaises(ClientError) as e:
            c.create_endpoint(EndpointName="e", EndpointConfigName="missing")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")

    def test_sklearn_model_with_an_inference_script(self):
        import joblib
        from sklearn.linear_model import LinearRegression

        x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        model = LinearRegression().fit(x, x @ np.array([2.0, 4.0]) + 1.0)
        buf = io.BytesIO()
        joblib.dump(model, buf)
        uri = put("s3://models/sk/model.tar.gz", tar_gz({"model.joblib": buf.getvalue(), "code/inference.py": INFERENCE.encode()}))
        c, rt = sm(), runtime()
        c.create_model(ModelName="sk", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": SKLEARN_IMAGE, "ModelDataUrl": uri,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
        c.create_endpoint_config(EndpointConfigName="sk", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "sk", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
        c.create_endpoint(EndpointName="sk", EndpointConfigName="sk")
        wait_in_service(c, "sk")
        r = rt.invoke_endpoint(EndpointName="sk", ContentType="text/csv", Accept="application/json", Body="1,1\n2,0")
        np.testing.assert_allclose(json.loads(r["Body"].read()), model.predict(np.array([[1.0, 1.0], [2.0, 0.0]])), rtol=1e-9)

    def test_data_capture(self):
        c, rt = sm(), runtime()
        c.create_model(ModelName="cap", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": self.model_uri}, ExecutionRoleArn=ROLE)
        c.create_endpoint_config(
            EndpointConfigName="cap",
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "cap", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
            DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://capture/datacapture",
                               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                               "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
        c.create_endpoint(EndpointName="cap", EndpointConfigName="cap")
        d = wait_in_service(c, "cap")
        self.assertEqual(d["DataCaptureConfig"]["CaptureStatus"], "Started")
        for i in range(3):
            rt.invoke_endpoint(EndpointName="cap", ContentType="text/csv", Body="1,2,3,4", InferenceId=f"req-{i}")
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline and len(lines) < 3:
            time.sleep(0.5)
            status, body = native("GET", "/api/v1/objects/capture?prefix=" + urllib.parse.quote("datacapture/cap/AllTraffic/", safe=""))
            if status != 200:
                continue
            lines = []
            for o in json.loads(body)["objects"]:
                self.assertTrue(o["key"].endswith(".jsonl"), o)
                _, data = native("GET", "/api/v1/objects/capture/" + o["key"])
                lines += [json.loads(line) for line in data.decode().splitlines()]
        self.assertEqual(len(lines), 3, lines)
        first = lines[0]
        self.assertEqual(first["captureData"]["endpointInput"], {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3,4", "encoding": "CSV"})
        self.assertEqual(first["captureData"]["endpointOutput"]["mode"], "OUTPUT")
        self.assertEqual(first["eventVersion"], "0")
        self.assertIn(first["eventMetadata"]["inferenceId"], {"req-0", "req-1", "req-2"})


if __name__ == "__main__":
    unittest.main()
