"""SageMaker pipelines driven by boto3's sagemaker client, the way the SageMaker Python SDK
(pipeline.upsert(), pipeline.start(), execution.wait(), execution.list_steps()) drives them.

The server comes from the AWS_* variables the Go runner sets (a fresh server per script). The
definition is the exact JSON the SageMaker Python SDK emits for the abalone example
(internal/pipeline/testdata/abalone.good.json). Its processing scripts are written here with the
standard library only, since the server runs SageMaker framework images with its host Python;
the training step, which needs the built-in trainer binary, is left out of the run. The data is
the real UCI abalone file from ../shared/data (relative to the repository root).
"""

import copy
import csv
import io
import json
import os
import time
import unittest

from botocore.exceptions import ClientError

from sluice_clients import put, sm

ROLE = "arn:aws:iam::111122223333:role/SageMakerPipelineRole"
HERE = os.path.dirname(os.path.abspath(__file__))

PREPROCESS = '''
import csv, os, random
rows = list(csv.reader(open("/opt/ml/processing/input/abalone-dataset.csv")))
if rows and not rows[0][-1].strip().isdigit():
    rows = rows[1:]  # header
sexes = ["F", "I", "M"]
out = []
for r in rows:
    onehot = [1.0 if r[0] == s else 0.0 for s in sexes]
    out.append([r[-1]] + [str(v) for v in onehot] + r[1:-1])
random.Random(42).shuffle(out)
n = len(out)
splits = {"train": out[: int(0.7 * n)], "validation": out[int(0.7 * n): int(0.85 * n)], "test": out[int(0.85 * n):]}
for name, part in splits.items():
    os.makedirs("/opt/ml/processing/" + name, exist_ok=True)
    with open("/opt/ml/processing/%s/%s.csv" % (name, name), "w", newline="") as f:
        csv.writer(f).writerows(part)
print("split", {k: len(v) for k, v in splits.items()})
'''

# The baseline model of the evaluation: predict the training mean. It is a real score, so the
# condition on the MSE decides on a computed number.
EVALUATE = '''
import csv, glob, json, math, os
def labels(pattern):
    out = []
    for path in glob.glob(pattern):
        out += [float(r[0]) for r in csv.reader(open(path)) if r]
    return out
train = labels("/opt/ml/processing/model/*.csv")
test = labels("/opt/ml/processing/test/*.csv")
mean = sum(train) / len(train)
errors = [(y - mean) ** 2 for y in test]
mse = sum(errors) / len(errors)
sd = math.sqrt(sum((e - mse) ** 2 for e in errors) / len(errors))
os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
with open("/opt/ml/processing/evaluation/evaluation.json", "w") as f:
    json.dump({"regression_metrics": {"mse": {"value": mse, "standard_deviation": sd}}}, f)
print("mse", mse)
'''


def repo_root():
    d = HERE
    while not os.path.exists(os.path.join(d, "go.mod")):
        parent = os.path.dirname(d)
        if parent == d:
            raise RuntimeError("go.mod not found above " + HERE)
        d = parent
    return d


def sdk_definition():
    with open(os.path.join(repo_root(), "internal", "pipeline", "testdata", "abalone.good.json")) as f:
        return f.read()


def wait(client, arn, timeout=120):
    """Polls DescribePipelineExecution until the execution ends, as execution.wait() does."""
    deadline = time.monotonic() + timeout
    while True:
        x = client.describe_pipeline_execution(PipelineExecutionArn=arn)
        if x["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return x
        if time.monotonic() > deadline:
            raise AssertionError("execution still %s after %ss" % (x["PipelineExecutionStatus"], timeout))
        time.sleep(0.1)


def steps_of(client, arn):
    steps, token = [], None
    while True:
        kw = {"PipelineExecutionArn": arn}
        if token:
            kw["NextToken"] = token
        page = client.list_pipeline_execution_steps(**kw)
        steps += page["PipelineExecutionSteps"]
        token = page.get("NextToken")
        if not token:
            return {s["StepName"]: s for s in steps}


class SDKDefinition(unittest.TestCase):
    def test_created_described_updated_and_deleted_as_is(self):
        c = sm()
        text = sdk_definition()
        arn = c.create_pipeline(PipelineName="AbalonePipeline", PipelineDefinition=text, RoleArn=ROLE,
                                PipelineDescription="abalone", Tags=[{"Key": "team", "Value": "ml"}])["PipelineArn"]
        self.assertTrue(arn.endswith(":pipeline/abalonepipeline"), arn)
        d = c.describe_pipeline(PipelineName="AbalonePipeline")
        self.assertEqual(d["PipelineDefinition"], text)
        self.assertEqual(d["PipelineStatus"], "Active")
        self.assertEqual(d["RoleArn"], ROLE)
        names = [p["PipelineName"] for p in c.list_pipelines()["PipelineSummaries"]]
        self.assertIn("AbalonePipeline", names)
        up = c.update_pipeline(PipelineName="AbalonePipeline", PipelineDescription="changed",
                               ParallelismConfiguration={"MaxParallelExecutionSteps": 3})
        if "PipelineVersionId" in up:  # botocore releases before 2023 do not model it
            self.assertEqual(up["PipelineVersionId"], 2)
        d = c.describe_pipeline(PipelineName=arn)
        self.assertEqual(d["PipelineDescription"], "changed")
        self.assertEqual(d["ParallelismConfiguration"]["MaxParallelExecutionSteps"], 3)
        with self.assertRaises(ClientError) as e:
            c.create_pipeline(PipelineName="AbalonePipeline", PipelineDefinition=text, RoleArn=ROLE)
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        c.delete_pipeline(PipelineName="AbalonePipeline")
        with self.assertRaises(ClientError) as e:
            c.describe_pipeline(PipelineName="AbalonePipeline")
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceNotFound")

    def test_invalid_definition_is_refused_with_the_field(self):
        bad = json.loads(sdk_definition())
        channel = bad["Steps"][1]["Arguments"]["InputDataConfig"][0]
        channel["DataSource"]["S3DataSource"]["S3Uri"] = {"Get": "Steps.PreprocessAbalone.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
        with self.assertRaises(ClientError) as e:
            sm().create_pipeline(PipelineName="Broken", PipelineDefinition=json.dumps(bad), RoleArn=ROLE)
        err = e.exception.response["Error"]
        self.assertEqual(err["Code"], "ValidationException")
        self.assertIn("TrainAbaloneModel", err["Message"])
        self.assertIn("PreprocessAbalone", err["Message"])


class RunWithParameters(unittest.TestCase):
    def setUp(self):
        data = os.path.join(os.path.dirname(repo_root()), "shared", "data", "abalone.csv")
        if not os.path.exists(data):
            self.skipTest("SKIPPED: %s is missing; the run needs the real abalone data" % data)
        with open(data, "rb") as f:
            put("s3://my-bucket/abalone/abalone-dataset.csv", f.read())
        put("s3://my-bucket/code/preprocessing.py", PREPROCESS.encode())
        put("s3://my-bucket/code/evaluation.py", EVALUATE.encode())

    def runnable(self):
        """The SDK's abalone definition without its training step: the evaluation scores a
        baseline on the training split, and the registered version points at that split."""
        d = json.loads(sdk_definition())
        steps = [s for s in d["Steps"] if s["Name"] != "TrainAbaloneModel"]
        train_split = {"Get": "Steps.PreprocessAbaloneData.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
        for s in steps:
            if s["Name"] == "EvaluateAbaloneModel":
                s["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = train_split
            if s["Type"] == "Condition":
                ifs = [x for x in s["Arguments"]["IfSteps"] if x["Type"] == "RegisterModel"]
                ifs[0]["Arguments"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = train_split
                s["Arguments"]["IfSteps"] = ifs
        d["Steps"] = steps
        return json.dumps(d)

    def test_start_poll_and_list_steps(self):
        c = sm()
        c.create_pipeline(PipelineName="AbaloneRun", PipelineDefinition=self.runnable(), RoleArn=ROLE)
        params = [{"Name": "MseThreshold", "Value": "12.0"},
                  {"Name": "InputData", "Value": "s3://my-bucket/abalone/abalone-dataset.csv"}]
        arn = c.start_pipeline_execution(PipelineName="AbaloneRun", PipelineParameters=params,
                                         PipelineExecutionDisplayName="baseline")["PipelineExecutionArn"]
        x = wait(c, arn)
        self.assertEqual(x["PipelineExecutionStatus"], "Succeeded", x.get("FailureReason"))
        self.assertEqual(x["PipelineExperimentConfig"], {"ExperimentName": "AbaloneRun", "TrialName": arn.rsplit("/", 1)[1]})
        steps = steps_of(c, arn)
        self.assertEqual(set(steps), {"PreprocessAbaloneData", "EvaluateAbaloneModel", "AbaloneMSECond", "RegisterAbaloneModel-RegisterModel"})
        for s in steps.values():
            self.assertEqual(s["StepStatus"], "Succeeded", s)
            self.assertEqual(s["AttemptCount"], 1)
        self.assertIn(":processing-job/pipelines-", steps["PreprocessAbaloneData"]["Metadata"]["ProcessingJob"]["Arn"])
        self.assertEqual(steps["AbaloneMSECond"]["Metadata"]["Condition"]["Outcome"], "True")
        package = steps["RegisterAbaloneModel-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
        self.assertTrue(package.endswith("model-package/abalonemodelpackagegroupname/1"), package)
        self.assertEqual(c.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"], "PendingManualApproval")
        got = {p["Name"]: p["Value"] for p in c.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]}
        self.assertEqual(got["MseThreshold"], "12.0")
        self.assertEqual(got["ProcessingInstanceCount"], "1")

        # Below the baseline's MSE the Fail step ends the run with its message, and the
        # preprocessing (CacheConfig PT12H) is reused from the first run.
        low = c.start_pipeline_execution(PipelineName="AbaloneRun", PipelineParameters=params[1:] + [
            {"Name": "MseThreshold", "Value": "5"}])["PipelineExecutionArn"]
        x = wait(c, low)
        self.assertEqual(x["PipelineExecutionStatus"], "Failed")
        self.assertEqual(x["FailureReason"], "Execution failed due to MSE > 5.0")
        steps = steps_of(c, low)
        self.assertEqual(steps["AbaloneMSEFail"]["Metadata"]["Fail"]["ErrorMessage"], "Execution failed due to MSE > 5.0")
        self.assertEqual(steps["AbaloneMSECond"]["Metadata"]["Condition"]["Outcome"], "False")
        self.assertEqual(steps["PreprocessAbaloneData"]["CacheHitResult"]["SourcePipelineExecutionArn"], arn)
        self.assertNotIn("RegisterAbaloneModel-RegisterModel", steps)

        execs = c.list_pipeline_executions(PipelineName="AbaloneRun")["PipelineExecutionSummaries"]
        self.assertEqual([e["PipelineExecutionArn"] for e in execs], [low, arn])
        self.assertEqual(c.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"], self.runnable())

        with self.assertRaises(ClientError) as e:
            c.start_pipeline_execution(PipelineName="AbaloneRun", PipelineParameters=[{"Name": "Nope", "Value": "1"}])
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")


if __name__ == "__main__":
    unittest.main()
