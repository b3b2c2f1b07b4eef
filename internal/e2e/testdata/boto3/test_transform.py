"""Batch transform driven by boto3's sagemaker client, the way SageMaker users and the Python
SDK's Transformer create transform jobs, wait for them and read their outputs.

The server comes from the AWS_* variables the Go runner sets (a fresh server per script). Data
and model artifacts move through Sluice's objects API (/api/v1/objects), signed with botocore's
SigV4 signer. The XGBoost model is trained here with Debian's xgboost, so the transform's output
is checked against real XGBoost predictions; the scikit-learn model runs its inference script
behind the serving contract's HTTP routes.
"""

import gzip
import io
import json
import os
import tempfile
import time
import unittest

import numpy as np
import xgboost as xgb
from botocore.exceptions import ClientError, WaiterError

from sluice_clients import native, put, sm, tar_gz

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
FAST = {"Delay": 1, "MaxAttempts": 180}

INFERENCE = '''
import joblib, os
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
'''


def get(uri):
    bucket, key = uri[len("s3://"):].split("/", 1)
    status, body = native("GET", f"/api/v1/objects/{bucket}/{key}")
    return body if status == 200 else None


def csv(rows):
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def job(name, model, source, output, **kw):
    """A CreateTransformJob request as the SDK's Transformer.transform() sends it."""
    req = {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": output, "AssembleWith": "Line", "Accept": "text/csv"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    }
    req.update(kw)
    return req


def wait(c, name):
    """Waits as the SDK's Transformer.wait() does; the waiter gives up on a failed job."""
    try:
        c.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName=name, WaiterConfig=FAST)
    except WaiterError as e:
        if "Failed" not in str(e):
            raise
    return c.describe_transform_job(TransformJobName=name)


class Transform(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(11)
        x = rng.normal(size=(2000, 5))
        y = x @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]) + rng.normal(scale=0.1, size=2000)
        cls.booster = xgb.train({"max_depth": 6, "eta": 0.3, "objective": "reg:squarederror"}, xgb.DMatrix(x, label=y), 40)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "xgboost-model")
            cls.booster.save_model(path)  # XGBoost's binary format, as SageMaker's 1.x containers write it
            with open(path, "rb") as f:
                model = f.read()
        uri = put("s3://models/xgb/model.tar.gz", tar_gz({"xgboost-model": model}))
        sm().create_model(ModelName="xgb", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": uri})

    def predict(self, rows):
        return self.booster.predict(xgb.DMatrix(np.asarray(rows, dtype=np.float64)))

    def test_xgboost_over_several_files_matches_xgboost(self):
        rng = np.random.default_rng(3)
        parts = {"part-0.csv": rng.normal(size=(30000, 5)), "part-1.csv": rng.normal(size=(7, 5)),
                 "nested/part-2.csv": rng.normal(size=(500, 5))}
        for name, rows in parts.items():
            put("s3://batch/xgb/" + name, csv(rows).encode())
        c = sm()
        arn = c.create_transform_job(**job("xgb-plain", "xgb", "s3://batch/xgb/", "s3://batch/xgb-out",
                                           MaxPayloadInMB=1, BatchStrategy="MultiRecord",
                                           TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 2},
                                           ModelClientConfig={"InvocationsTimeoutInSeconds": 60, "InvocationsMaxRetries": 1},
                                           Tags=[{"Key": "team", "Value": "ml"}]))["TransformJobArn"]
        self.assertTrue(arn.endswith(":transform-job/xgb-plain"), arn)
        d = wait(c, "xgb-plain")
        self.assertEqual(d["TransformJobStatus"], "Completed", d.get("FailureReason"))
        self.assertEqual(d["TransformOutput"]["S3OutputPath"], "s3://batch/xgb-out")
        self.assertEqual(d["MaxPayloadInMB"], 1)
        self.assertEqual(d["TransformResources"]["InstanceCount"], 2)
        self.assertLessEqual(d["TransformStartTime"], d["TransformEndTime"])
        for name, rows in parts.items():
            got = np.loadtxt(io.BytesIO(get("s3://batch/xgb-out/" + name + ".out")), ndmin=1)
            np.testing.assert_allclose(got, self.predict(rows), rtol=1e-5, atol=1e-5, err_msg=name)
        tags = c.list_tags(ResourceArn=arn)["Tags"]
        self.assertEqual(tags, [{"Key": "team", "Value": "ml"}])

    def test_gzip_input(self):
        rows = np.random.default_rng(5).normal(size=(4000, 5))
        put("s3://batch/gz/rows.csv.gz", gzip.compress(csv(rows).encode()))
        c = sm()
        c.create_transform_job(**job("xgb-gzip", "xgb", "s3://batch/gz/", "s3://batch/gz-out",
                                     TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://batch/gz/"}},
                                                     "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "Gzip"}))
        d = wait(c, "xgb-gzip")
        self.assertEqual(d["TransformJobStatus"], "Completed", d.get("FailureReason"))
        got = np.loadtxt(io.BytesIO(get("s3://batch/gz-out/rows.csv.gz.out")))
        np.testing.assert_allclose(got, self.predict(rows), rtol=1e-5, atol=1e-5)

    def test_join_keeps_ids_with_predictions(self):
        rows = np.random.default_rng(9).normal(size=(2500, 5))
        ids = ["cust-%04d" % i for i in range(len(rows))]
        text = "".join(i + "," + ",".join(repr(float(v)) for v in r) + "\n" for i, r in zip(ids, rows))
        put("s3://batch/ids/customers.csv", text.encode())
        c = sm()
        c.create_transform_job(**job("xgb-join", "xgb", "s3://batch/ids", "s3://batch/ids-out",
                                     DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}))
        d = wait(c, "xgb-join")
        self.assertEqual(d["TransformJobStatus"], "Completed", d.get("FailureReason"))
        self.assertEqual(d["DataProcessing"]["OutputFilter"], "$[0,-1]")
        lines = get("s3://batch/ids-out/customers.csv.out").decode().splitlines()
        self.assertEqual([l.split(",")[0] for l in lines], ids)
        np.testing.assert_allclose([float(l.split(",")[1]) for l in lines], self.predict(rows), rtol=1e-5, atol=1e-5)

    def test_poisoned_record_fails_the_job_with_its_line(self):
        rows = csv(np.ones((100, 5))).splitlines()
        rows[41] = "1,2,three,4,5"
        put("s3://batch/poison/bad.csv", ("\n".join(rows) + "\n").encode())
        c = sm()
        c.create_transform_job(**job("xgb-poison", "xgb", "s3://batch/poison/", "s3://batch/poison-out",
                                     ModelClientConfig={"InvocationsMaxRetries": 0}))
        d = wait(c, "xgb-poison")
        self.assertEqual(d["TransformJobStatus"], "Failed")
        self.assertIn("s3://batch/poison/bad.csv, line 42: the model answered 400", d["FailureReason"])
        self.assertIsNone(get("s3://batch/poison-out/bad.csv.out"))

    def test_sklearn_script_model_over_http(self):
        import joblib
        from sklearn.linear_model import LinearRegression

        x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        model = LinearRegression().fit(x, x @ np.array([2.0, 4.0]) + 1.0)
        buf = io.BytesIO()
        joblib.dump(model, buf)
        uri = put("s3://models/sk/model.tar.gz", tar_gz({"model.joblib": buf.getvalue(), "code/inference.py": INFERENCE.encode()}))
        c = sm()
        c.create_model(ModelName="sk", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": SKLEARN_IMAGE, "ModelDataUrl": uri,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
        rows = np.random.default_rng(1).uniform(size=(300, 2))
        put("s3://batch/sk/rows.csv", csv(rows).encode())
        c.create_transform_job(**job("sk", "sk", "s3://batch/sk/", "s3://batch/sk-out", BatchStrategy="SingleRecord",
                                     MaxConcurrentTransforms=4,
                                     TransformOutput={"S3OutputPath": "s3://batch/sk-out", "AssembleWith": "Line", "Accept": "application/json"}))
        d = wait(c, "sk")
        self.assertEqual(d["TransformJobStatus"], "Completed", d.get("FailureReason"))
        got = [json.loads(l)[0] for l in get("s3://batch/sk-out/rows.csv.out").decode().splitlines()]
        np.testing.assert_allclose(got, model.predict(rows), rtol=1e-9)

        # Stopped half way, a job ends Stopped and writes no partial output.
        put("s3://batch/sk-slow/rows.csv", csv(np.ones((20000, 2))).encode())
        c.create_transform_job(**job("sk-stop", "sk", "s3://batch/sk-slow/", "s3://batch/sk-slow-out", BatchStrategy="SingleRecord",
                                     MaxConcurrentTransforms=1))
        for _ in range(600):
            status, body = native("GET", "/api/v1/transform-jobs/sk-stop/progress")
            if status == 200 and json.loads(body)["Records"] > 10:
                break
            time.sleep(0.1)
        c.stop_transform_job(TransformJobName="sk-stop")
        d = wait(c, "sk-stop")
        self.assertEqual(d["TransformJobStatus"], "Stopped")
        self.assertIsNone(get("s3://batch/sk-slow-out/rows.csv.out"))

    def test_listed_and_errors_are_sagemakers(self):
        c = sm()
        put("s3://batch/list/a.csv", b"1,2,3,4,5\n")
        c.create_transform_job(**job("listed-1", "xgb", "s3://batch/list/", "s3://batch/list-out"))
        wait(c, "listed-1")
        names = [s["TransformJobName"] for s in c.list_transform_jobs(NameContains="listed", StatusEquals="Completed")["TransformJobSummaries"]]
        self.assertEqual(names, ["listed-1"])
        pages = c.get_paginator("list_transform_jobs").paginate(PaginationConfig={"PageSize": 1})
        self.assertIn("listed-1", [s["TransformJobName"] for p in pages for s in p["TransformJobSummaries"]])
        with self.assertRaises(ClientError) as e:
            c.stop_transform_job(TransformJobName="listed-1")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        with self.assertRaises(ClientError) as e:
            c.describe_transform_job(TransformJobName="never")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        with self.assertRaises(ClientError) as e:
            c.create_transform_job(**job("listed-1", "xgb", "s3://batch/list/", "s3://batch/list-out"))
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceInUse")
        with self.assertRaises(ClientError) as e:
            c.create_transform_job(**job("no-model", "missing", "s3://batch/list/", "s3://batch/list-out"))
        self.assertIn("Could not find model", e.exception.response["Error"]["Message"])
        with self.assertRaises(ClientError) as e:
            c.create_transform_job(**job("recordio", "xgb", "s3://batch/list/", "s3://batch/o", TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://batch/list/"}}, "SplitType": "RecordIO"}))
        self.assertIn("RecordIO is not supported here yet", e.exception.response["Error"]["Message"])


if __name__ == "__main__":
    unittest.main()
