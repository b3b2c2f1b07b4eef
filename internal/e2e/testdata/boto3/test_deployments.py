"""Safe deployments driven by boto3, the way SageMaker's deployment guardrail samples do it:
alarms created with the cloudwatch client, UpdateEndpoint with a DeploymentConfig (blue/green
CANARY traffic shifting and AutoRollbackConfiguration), DescribeEndpoint while it runs, and the
rollback when a bad model version trips an alarm.

The server comes from the AWS_* variables the Go runner sets (a fresh server per script). The
models are real XGBoost models trained here; the "bad" version expects five features while
callers send four, so it answers every request with the model's 400 (ModelError), which
trips an alarm on Invocation4XXErrors.
"""

import json
import os
import tempfile
import time
import unittest

import numpy as np
import xgboost as xgb
from botocore.exceptions import ClientError

from sluice_clients import cloudwatch, native, put, runtime, sm, tar_gz

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
FAST = {"Delay": 1, "MaxAttempts": 120}
ROW = "0.5,1.0,-0.5,2.0"


def put_model(uri, features, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, features))
    y = x @ rng.normal(size=features)
    booster = xgb.train({"max_depth": 3, "objective": "reg:squarederror"}, xgb.DMatrix(x, label=y), 10)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "xgboost-model.json")
        booster.save_model(path)
        with open(path, "rb") as f:
            model = f.read()
    put(uri, tar_gz({"xgboost-model": model}))
    return booster


def deployment_config(canary_percent, wait, alarms, termination=0, timeout=None):
    policy = {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": canary_percent},
            "WaitIntervalInSeconds": wait,
        },
        "TerminationWaitInSeconds": termination,
    }
    if timeout:
        policy["MaximumExecutionTimeoutInSeconds"] = timeout
    dc = {"BlueGreenUpdatePolicy": policy}
    if alarms:
        dc["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return dc


def deployments(name):
    status, body = native("GET", f"/api/v1/endpoints/{name}/deployments")
    assert status == 200, (status, body)
    return json.loads(body)["Deployments"]


class Deployments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        c = sm()
        cls.good = put_model("s3://models/shop/good/model.tar.gz", 4, 1)
        put_model("s3://models/shop/good2/model.tar.gz", 4, 2)
        put_model("s3://models/shop/bad/model.tar.gz", 5, 3)
        for name in ("good", "good2", "bad"):
            c.create_model(ModelName=f"shop-{name}", ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://models/shop/{name}/model.tar.gz"})
            c.create_endpoint_config(EndpointConfigName=f"shop-{name}", ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": f"shop-{name}", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}])
        cw = cloudwatch()
        dims = [{"Name": "EndpointName", "Value": "shop"}, {"Name": "VariantName", "Value": "AllTraffic"}]
        cw.put_metric_alarm(AlarmName="shop-4xx", Namespace="AWS/SageMaker", MetricName="Invocation4XXErrors", Dimensions=dims,
                            Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=3, ComparisonOperator="GreaterThanThreshold",
                            TreatMissingData="notBreaching")
        cw.put_metric_alarm(AlarmName="shop-latency", Namespace="AWS/SageMaker", MetricName="ModelLatency", Dimensions=dims,
                            ExtendedStatistic="p99", Period=10, EvaluationPeriods=1, Threshold=2_000_000,
                            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
        c.create_endpoint(EndpointName="shop", EndpointConfigName="shop-good")
        c.get_waiter("endpoint_in_service").wait(EndpointName="shop", WaiterConfig=FAST)

    def invoke(self):
        return runtime().invoke_endpoint(EndpointName="shop", ContentType="text/csv", Body=ROW)

    def test_1_canary_succeeds(self):
        c = sm()
        dc = deployment_config(50, 1, ["shop-4xx", "shop-latency"], termination=1)
        c.update_endpoint(EndpointName="shop", EndpointConfigName="shop-good2", DeploymentConfig=dc)
        seen, answers = set(), set()
        while True:
            d = c.describe_endpoint(EndpointName="shop")
            seen.add(d["EndpointStatus"])
            for v in d["ProductionVariants"]:
                for s in v.get("VariantStatus", []):
                    seen.add(s["Status"])
            if d["EndpointStatus"] == "Updating":
                self.assertEqual(d["PendingDeploymentSummary"]["EndpointConfigName"], "shop-good2")
            if d["EndpointStatus"] == "InService":
                break
            answers.add(self.invoke()["Body"].read())
            time.sleep(0.05)
        self.assertIn("Updating", seen)
        self.assertIn("Baking", seen)
        self.assertEqual(len(answers), 2, "both versions answered during the canary")
        self.assertEqual(d["EndpointConfigName"], "shop-good2")
        self.assertNotIn("FailureReason", d)
        self.assertEqual(d["LastDeploymentConfig"], dc)
        r = deployments("shop")[0]
        self.assertEqual(r["Status"], "Succeeded")
        self.assertEqual(r["Strategy"], "CANARY")
        self.assertEqual(r["TrafficSteps"], [50, 100])
        self.assertEqual(r["Alarms"], ["shop-4xx", "shop-latency"])

    def test_2_bad_version_rolls_back(self):
        c = sm()
        c.update_endpoint(EndpointName="shop", EndpointConfigName="shop-bad",
                          DeploymentConfig=deployment_config(50, 600, ["shop-4xx"], timeout=3600))
        model_errors, ok = 0, 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.invoke()
                ok += 1
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "ModelError", e.response)
                self.assertEqual(e.response["OriginalStatusCode"], 400)
                model_errors += 1
            d = c.describe_endpoint(EndpointName="shop")
            if d["EndpointStatus"] == "InService":
                break
        self.assertEqual(d["EndpointStatus"], "InService")
        self.assertEqual(d["EndpointConfigName"], "shop-good2")
        self.assertIn("Alarm shop-4xx entered ALARM", d["FailureReason"])
        self.assertNotIn("PendingDeploymentSummary", d)
        self.assertGreater(model_errors, 3)
        self.assertGreater(ok, 0)
        # Every request goes to the old version again.
        for _ in range(30):
            self.invoke()
        r = deployments("shop")[0]
        self.assertEqual(r["Status"], "RolledBack")
        self.assertEqual(r["Rollback"]["Trigger"], "shop-4xx")
        self.assertLess(r["Rollback"]["ReactionMillis"], 1000)
        types = [e["Type"] for e in r["Events"]]
        self.assertEqual(types[-3:], ["RollbackStarted", "NewFleetStopped", "DeploymentEnded"])
        alarms = {a["AlarmName"]: a for a in r["Events"][-3]["Alarms"]}
        self.assertEqual(alarms["shop-4xx"]["State"], "ALARM")
        self.assertGreater(alarms["shop-4xx"]["Value"], 3)
        alarm = cloudwatch().describe_alarms(AlarmNames=["shop-4xx"])["MetricAlarms"][0]
        self.assertEqual(alarm["StateValue"], "ALARM")

    def test_3_refusals(self):
        c = sm()
        cases = [
            (deployment_config(60, 10, ["shop-4xx"]), "more than half"),
            ({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "LINEAR", "WaitIntervalInSeconds": 4000,
                                                                       "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20}}}},
             "Member must have value less than or equal to 3600"),
            ({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "LINEAR", "WaitIntervalInSeconds": 10,
                                                                       "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 60}}}},
             "not 10-50%"),
            (deployment_config(50, 300, ["shop-4xx"], timeout=600), "must be larger than the total of the waits"),
            (deployment_config(50, 10, ["no-such-alarm"]), "no-such-alarm"),
        ]
        for dc, message in cases:
            with self.assertRaises(ClientError) as e:
                c.update_endpoint(EndpointName="shop", EndpointConfigName="shop-good", DeploymentConfig=dc)
            self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
            self.assertIn(message, e.exception.response["Error"]["Message"])
        self.assertEqual(c.describe_endpoint(EndpointName="shop")["EndpointStatus"], "InService")

    def test_4_busy_endpoint_and_delete_mid_update(self):
        c = sm()
        cloudwatch().set_alarm_state(AlarmName="shop-4xx", StateValue="OK", StateReason="reset for the next test")
        c.update_endpoint(EndpointName="shop", EndpointConfigName="shop-good", DeploymentConfig=deployment_config(50, 600, []))
        deadline = time.monotonic() + 30
        while deployments("shop")[0]["Phase"] != "Baking":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        with self.assertRaises(ClientError) as e:
            c.update_endpoint(EndpointName="shop", EndpointConfigName="shop-good2")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("Updating", e.exception.response["Error"]["Message"])
        self.invoke()
        c.delete_endpoint(EndpointName="shop")
        c.get_waiter("endpoint_deleted").wait(EndpointName="shop", WaiterConfig=FAST)
        # The evidence outlives the endpoint.
        history = deployments("shop")
        self.assertEqual([r["Status"] for r in history], ["Stopped", "RolledBack", "Succeeded"])


if __name__ == "__main__":
    unittest.main()
