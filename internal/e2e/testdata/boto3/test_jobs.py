"""Processing and training jobs driven by boto3's sagemaker client, the way SageMaker users and
the SageMaker Python SDK create, wait for, inspect and stop them.

The server comes from the AWS_* variables the Go runner sets (a fresh server per script). Files
move in and out of the artifact store through Sluice's objects API (/api/v1/objects), signed
with botocore's SigV4 signer, as `sluice cp` does. Jobs run SageMaker-style Python scripts on a
SageMaker scikit-learn image URI, which the server runs with its host Python.
"""

import csv
import io
import json
import os
import tarfile
import time
import unittest

from botocore.exceptions import ClientError, WaiterError

from sluice_clients import native, put, sm

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
FAST = {"Delay": 1, "MaxAttempts": 120}

PREPROCESS = '''
import csv, glob, os
rows = []
for path in glob.glob("/opt/ml/processing/input/data/*.csv"):
    with open(path) as f:
        rows += list(csv.reader(f))[1:]
os.makedirs("/opt/ml/processing/train", exist_ok=True)
with open("/opt/ml/processing/train/train.csv", "w") as f:
    csv.writer(f).writerows([[r[-1]] + r[:-1] for r in rows])
print("rows written:", len(rows), "scale:", os.environ["SCALE"])
'''

TRAIN = '''
import argparse, json, os
p = argparse.ArgumentParser()
p.add_argument("--max_depth", type=int)
p.add_argument("--eta", type=float)
a = p.parse_args()
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv")).read().split()
for i, loss in enumerate([0.9, 0.5, 0.25]):
    print(f"[{i}] train-rmse:{loss} validation-rmse:{loss + 0.1}", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"max_depth": a.max_depth, "eta": a.eta, "rows": len(rows)}, f)
'''

FAIL = '''
import sys
with open("/opt/ml/output/failure", "w") as f:
    f.write("ValueError: the training data has no target column")
sys.exit(1)
'''

SLEEP = '''
import time
print("started", flush=True)
time.sleep(600)
'''


def get(uri):
    bucket, key = uri[len("s3://"):].split("/", 1)
    status, body = native("GET", f"/api/v1/objects/{bucket}/{key}")
    assert status == 200, (uri, status, body)
    return body


def sourcedir(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def training_request(name, program, **extra):
    req = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        # The SDK's framework estimators JSON-encode these two.
        "HyperParameters": {
            "sagemaker_program": json.dumps(program),
            "sagemaker_submit_directory": json.dumps("s3://jobs-e2e/code/sourcedir.tar.gz"),
        },
        "OutputDataConfig": {"S3OutputPath": "s3://jobs-e2e/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }
    req.update(extra)
    return req


class Jobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        put("s3://jobs-e2e/code/sourcedir.tar.gz", sourcedir({"train.py": TRAIN, "fail.py": FAIL, "sleep.py": SLEEP}))
        put("s3://jobs-e2e/code/preprocess.py", PREPROCESS.encode())
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["Sex", "Length", "Rings"])
        w.writerows([["M", "0.455", "15"], ["F", "0.53", "9"], ["I", "0.33", "7"]])
        put("s3://jobs-e2e/raw/abalone.csv", out.getvalue().encode())

    def test_processing_then_training(self):
        c = sm()
        arn = c.create_processing_job(
            ProcessingJobName="e2e-prep",
            RoleArn=ROLE,
            AppSpecification={
                "ImageUri": IMAGE,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"],
            },
            Environment={"SCALE": "1"},
            ProcessingInputs=[
                {"InputName": "input-1", "S3Input": {"S3Uri": "s3://jobs-e2e/raw", "LocalPath": "/opt/ml/processing/input/data",
                                                     "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
                {"InputName": "code", "S3Input": {"S3Uri": "s3://jobs-e2e/code/preprocess.py", "LocalPath": "/opt/ml/processing/input/code",
                                                  "S3DataType": "S3Prefix", "S3InputMode": "File"}},
            ],
            ProcessingOutputConfig={"Outputs": [{"OutputName": "train", "S3Output": {
                "S3Uri": "s3://jobs-e2e/prep/train", "LocalPath": "/opt/ml/processing/train", "S3UploadMode": "EndOfJob"}}]},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
            Tags=[{"Key": "project", "Value": "abalone"}],
        )["ProcessingJobArn"]
        self.assertEqual(arn, "arn:aws:sagemaker:us-east-1:000000000000:processing-job/e2e-prep")
        c.get_waiter("processing_job_completed_or_stopped").wait(ProcessingJobName="e2e-prep", WaiterConfig=FAST)
        d = c.describe_processing_job(ProcessingJobName="e2e-prep")
        self.assertEqual(d["ProcessingJobStatus"], "Completed", d.get("FailureReason"))
        self.assertLessEqual(d["CreationTime"], d["ProcessingStartTime"])
        self.assertLessEqual(d["ProcessingStartTime"], d["ProcessingEndTime"])
        self.assertEqual(d["Environment"], {"SCALE": "1"})
        self.assertEqual(get("s3://jobs-e2e/prep/train/train.csv").decode().splitlines()[0], "15,M,0.455")
        status, log = native("GET", "/api/v1/jobs/e2e-prep/logs")
        self.assertEqual(status, 200)
        self.assertIn(b"rows written: 3 scale: 1", log)
        self.assertEqual(c.list_tags(ResourceArn=arn)["Tags"], [{"Key": "project", "Value": "abalone"}])

        c.create_training_job(**training_request(
            "e2e-train", "train.py",
            HyperParameters={
                "max_depth": "5", "eta": "0.2",
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps("s3://jobs-e2e/code/sourcedir.tar.gz"),
            },
            AlgorithmSpecification={
                "TrainingImage": IMAGE, "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "train:rmse", "Regex": r"train-rmse:([0-9\.]+)"},
                    {"Name": "validation:rmse", "Regex": r"validation-rmse:([0-9\.]+)"},
                ],
            },
            InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv",
                              "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://jobs-e2e/prep/train",
                                                              "S3DataDistributionType": "FullyReplicated"}}}],
        ))
        c.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="e2e-train", WaiterConfig=FAST)
        t = c.describe_training_job(TrainingJobName="e2e-train")
        self.assertEqual(t["TrainingJobStatus"], "Completed", t.get("FailureReason"))
        self.assertEqual(t["SecondaryStatus"], "Completed")
        self.assertEqual([s["Status"] for s in t["SecondaryStatusTransitions"]],
                         ["Starting", "Downloading", "Training", "Uploading", "Completed"])
        metrics = {m["MetricName"]: m["Value"] for m in t["FinalMetricDataList"]}
        self.assertAlmostEqual(metrics["train:rmse"], 0.25, places=5)
        self.assertAlmostEqual(metrics["validation:rmse"], 0.35, places=5)
        model_uri = t["ModelArtifacts"]["S3ModelArtifacts"]
        self.assertEqual(model_uri, "s3://jobs-e2e/models/e2e-train/output/model.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(get(model_uri)), mode="r:gz") as tar:
            model = json.load(tar.extractfile("model.json"))
        self.assertEqual(model, {"max_depth": 5, "eta": 0.2, "rows": 3})
        self.assertGreaterEqual(t["TrainingTimeInSeconds"], 1)

        names = []
        for page in c.get_paginator("list_processing_jobs").paginate(NameContains="e2e", PaginationConfig={"PageSize": 1}):
            names += [s["ProcessingJobName"] for s in page["ProcessingJobSummaries"]]
        self.assertEqual(names, ["e2e-prep"])
        summaries = c.list_training_jobs(StatusEquals="Completed", SortBy="Name")["TrainingJobSummaries"]
        self.assertIn("e2e-train", [s["TrainingJobName"] for s in summaries])

    def test_failing_script_reports_its_reason(self):
        c = sm()
        c.create_training_job(**training_request("e2e-fails", "fail.py"))
        with self.assertRaises(WaiterError):
            c.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="e2e-fails", WaiterConfig=FAST)
        t = c.describe_training_job(TrainingJobName="e2e-fails")
        self.assertEqual(t["TrainingJobStatus"], "Failed")
        self.assertEqual(t["FailureReason"], "ValueError: the training data has no target column")

    def test_stop_and_max_runtime(self):
        c = sm()
        c.create_training_job(**training_request("e2e-stopped", "sleep.py"))
        c.create_training_job(**training_request("e2e-timeout", "sleep.py", StoppingCondition={"MaxRuntimeInSeconds": 1}))
        deadline = time.monotonic() + 60
        while c.describe_training_job(TrainingJobName="e2e-stopped")["SecondaryStatus"] != "Training":
            self.assertLess(time.monotonic(), deadline, "the job never started training")
            time.sleep(0.1)
        c.stop_training_job(TrainingJobName="e2e-stopped")
        self.assertIn(c.describe_training_job(TrainingJobName="e2e-stopped")["TrainingJobStatus"], ("Stopping", "Stopped"))
        c.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="e2e-stopped", WaiterConfig=FAST)
        self.assertEqual(c.describe_training_job(TrainingJobName="e2e-stopped")["TrainingJobStatus"], "Stopped")
        c.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="e2e-timeout", WaiterConfig=FAST)
        t = c.describe_training_job(TrainingJobName="e2e-timeout")
        self.assertEqual((t["TrainingJobStatus"], t["SecondaryStatus"]), ("Stopped", "MaxRuntimeExceeded"))

    def test_errors(self):
        c = sm()
        req = training_request("e2e-dup", "train.py")
        c.create_training_job(**req)
        with self.assertRaises(ClientError) as e:
            c.create_training_job(**req)
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceInUse")
        self.assertIn("a job with this name already exists", e.exception.response["Error"]["Message"])
        with self.assertRaises(ClientError) as e:
            c.describe_training_job(TrainingJobName="never-created")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertEqual(e.exception.response["Error"]["Message"], "Requested resource not found.")
        with self.assertRaises(ClientError) as e:
            c.create_processing_job(
                ProcessingJobName="e2e-bad-path", RoleArn=ROLE,
                AppSpecification={"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "x.py"]},
                ProcessingInputs=[{"InputName": "in", "S3Input": {"S3Uri": "s3://jobs-e2e/raw", "LocalPath": "/etc/passwd",
                                                                  "S3DataType": "S3Prefix"}}],
                ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
            )
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("/opt/ml/processing/", e.exception.response["Error"]["Message"])
        with self.assertRaises(ClientError) as e:
            c.stop_processing_job(ProcessingJobName="never-created")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")


if __name__ == "__main__":
    unittest.main()
