"""The model registry driven by boto3, the way SageMaker projects and CI scripts use it.

The server comes from the AWS_* variables the Go runner sets (a fresh server per script).
"""

import datetime
import json
import os
import unittest
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
from botocore.exceptions import ClientError, ParamValidationError

ENDPOINT = os.environ["AWS_ENDPOINT_URL_SAGEMAKER"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

INFERENCE_SPEC = {
    "Containers": [
        {
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://sluice-models/abalone/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
    "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
    "SupportedTransformInstanceTypes": ["ml.m5.large"],
}

MODEL_METRICS = {
    "ModelQuality": {
        "Statistics": {
            "ContentType": "application/json",
            "S3Uri": "s3://sluice-models/abalone/evaluation.json",
        }
    }
}


def client():
    return boto3.client("sagemaker", endpoint_url=ENDPOINT, region_name=REGION)


def error_code(err):
    return err.response["Error"]["Code"]


def latest_approved(sm, group):
    """The lookup AWS project templates use: loop while a page is empty and a token remains."""
    args = dict(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    resp = sm.list_model_packages(**args)
    while not resp["ModelPackageSummaryList"] and "NextToken" in resp:
        resp = sm.list_model_packages(NextToken=resp["NextToken"], **args)
    if not resp["ModelPackageSummaryList"]:
        return None
    return resp["ModelPackageSummaryList"][0]["ModelPackageArn"]


def native_get(path):
    """GET from Sluice's native API, signed with SigV4 like every request."""
    session = boto3.session.Session()
    creds = session.get_credentials().get_frozen_credentials()
    req = botocore.awsrequest.AWSRequest(method="GET", url=ENDPOINT.rstrip("/") + path)
    botocore.auth.SigV4Auth(creds, "sagemaker", REGION).add_auth(req)
    prepared = req.prepare()
    with urllib.request.urlopen(urllib.request.Request(prepared.url, headers=dict(prepared.headers))) as resp:
        return json.loads(resp.read())


class RegistryTest(unittest.TestCase):
    def setUp(self):
        self.sm = client()
        if hasattr(self.sm, "close"):
            self.addCleanup(self.sm.close)

    def register(self, group, status=None, **extra):
        args = dict(
            ModelPackageGroupName=group,
            ModelPackageDescription="xgboost regressor",
            InferenceSpecification=INFERENCE_SPEC,
            ModelMetrics=MODEL_METRICS,
            MetadataProperties={"GeneratedBy": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/abalone/execution/4wemqw2sucgh"},
            CustomerMetadataProperties={"rmse": "2.13", "dataset": "abalone"},
            Domain="MACHINE_LEARNING",
            Task="REGRESSION",
            SamplePayloadUrl="s3://sluice-models/abalone/payload.tar.gz",
        )
        if status:
            args["ModelApprovalStatus"] = status
        args.update(extra)
        return self.sm.create_model_package(**args)["ModelPackageArn"]

    def test_groups(self):
        sm = self.sm
        arn = sm.create_model_package_group(
            ModelPackageGroupName="Churn-Model",
            ModelPackageGroupDescription="customer churn",
            Tags=[{"Key": "team", "Value": "growth"}],
        )["ModelPackageGroupArn"]
        self.assertEqual(arn, "arn:aws:sagemaker:%s:000000000000:model-package-group/churn-model" % REGION)
        with self.assertRaises(ClientError) as cm:
            sm.create_model_package_group(ModelPackageGroupName="churn-model")
        self.assertEqual(error_code(cm.exception), "ValidationException")
        self.assertIn("already exists", str(cm.exception))

        for ref in ("Churn-Model", arn):
            d = sm.describe_model_package_group(ModelPackageGroupName=ref)
            self.assertEqual(d["ModelPackageGroupName"], "Churn-Model")
            self.assertEqual(d["ModelPackageGroupStatus"], "Completed")
            self.assertEqual(d["ModelPackageGroupDescription"], "customer churn")
            self.assertIsInstance(d["CreationTime"], datetime.datetime)
            self.assertEqual(d["CreatedBy"]["UserProfileName"], "root")

        for name in ("fraud", "forecast", "ranker"):
            sm.create_model_package_group(ModelPackageGroupName=name)
        mine = {"Churn-Model", "forecast", "fraud", "ranker"}
        names = []
        for page in sm.get_paginator("list_model_package_groups").paginate(
            SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}
        ):
            names += [g["ModelPackageGroupName"] for g in page["ModelPackageGroupSummaryList"]]
        self.assertEqual([n for n in names if n in mine], ["Churn-Model", "forecast", "fraud", "ranker"])
        found = sm.list_model_package_groups(NameContains="FoR")["ModelPackageGroupSummaryList"]
        self.assertEqual(sorted(g["ModelPackageGroupName"] for g in found), ["forecast"])
        newest = sm.list_model_package_groups(SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
        self.assertEqual(newest["ModelPackageGroupSummaryList"][0]["ModelPackageGroupName"], "ranker")
        self.assertIn("NextToken", newest)

        self.assertEqual(sm.list_tags(ResourceArn=arn)["Tags"], [{"Key": "team", "Value": "growth"}])
        sm.delete_model_package_group(ModelPackageGroupName="ranker")
        with self.assertRaises(ClientError) as cm:
            sm.describe_model_package_group(ModelPackageGroupName="ranker")
        self.assertEqual(error_code(cm.exception), "ValidationException")

    def test_versions_approval_and_latest_approved(self):
        sm = self.sm
        sm.create_model_package_group(ModelPackageGroupName="abalone")
        self.assertIsNone(latest_approved(sm, "abalone"))
        v1 = self.register("abalone")
        v2 = self.register("abalone", "Approved")
        v3 = self.register("abalone", "PendingManualApproval")
        self.assertEqual(v1, "arn:aws:sagemaker:%s:000000000000:model-package/abalone/1" % REGION)
        self.assertTrue(v3.endswith("/abalone/3"))

        d = sm.describe_model_package(ModelPackageName=v1)
        self.assertEqual(d["ModelPackageGroupName"], "abalone")
        self.assertEqual(d["ModelPackageName"], "abalone")
        self.assertEqual(d["ModelPackageVersion"], 1)
        self.assertEqual(d["ModelApprovalStatus"], "PendingManualApproval")
        self.assertEqual(d["ModelPackageStatus"], "Completed")
        self.assertEqual(d["InferenceSpecification"], INFERENCE_SPEC)
        self.assertEqual(d["ModelMetrics"], MODEL_METRICS)
        self.assertEqual(d["CustomerMetadataProperties"], {"rmse": "2.13", "dataset": "abalone"})
        self.assertEqual(d["Domain"], "MACHINE_LEARNING")
        self.assertEqual(d["Task"], "REGRESSION")
        self.assertEqual(d["SamplePayloadUrl"], "s3://sluice-models/abalone/payload.tar.gz")
        self.assertIn("ValidationStatuses", d["ModelPackageStatusDetails"])
        self.assertIsInstance(d["CreationTime"], datetime.datetime)
        self.assertEqual(sm.describe_model_package(ModelPackageName="abalone/2")["ModelPackageArn"], v2)

        self.assertEqual(latest_approved(sm, "abalone"), v2)
        sm.update_model_package(
            ModelPackageArn=v3,
            ModelApprovalStatus="Approved",
            ApprovalDescription="rmse 2.01 beats v2",
            CustomerMetadataProperties={"approved-by": "qa"},
            CustomerMetadataPropertiesToRemove=["dataset"],
        )
        self.assertEqual(latest_approved(sm, "abalone"), v3)
        d3 = sm.describe_model_package(ModelPackageName=v3)
        self.assertEqual(d3["ApprovalDescription"], "rmse 2.01 beats v2")
        self.assertEqual(d3["LastModifiedBy"]["UserProfileName"], "root")
        self.assertEqual(d3["CustomerMetadataProperties"], {"rmse": "2.13", "approved-by": "qa"})

        # Approved -> Rejected: the latest still-approved version takes over.
        sm.update_model_package(ModelPackageArn=v3, ModelApprovalStatus="Rejected")
        self.assertEqual(latest_approved(sm, "abalone"), v2)
        approved = sm.list_model_packages(ModelPackageGroupName="abalone", ModelApprovalStatus="Approved")
        self.assertEqual([p["ModelPackageVersion"] for p in approved["ModelPackageSummaryList"]], [2])

        # Listing: default ascending, paginated, time window by the CreationTime read back.
        versions = []
        for page in sm.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName="abalone", PaginationConfig={"PageSize": 2}
        ):
            for s in page["ModelPackageSummaryList"]:
                self.assertEqual(s["ModelPackageStatus"], "Completed")
                versions.append(s["ModelPackageVersion"])
        self.assertEqual(versions, [1, 2, 3])
        # botocore sends timestamps in whole seconds, so the window is drawn in seconds.
        t1 = sm.describe_model_package(ModelPackageName=v1)["CreationTime"]
        minute = datetime.timedelta(seconds=60)

        def window(**bounds):
            resp = sm.list_model_packages(ModelPackageGroupName="abalone", **bounds)
            return [p["ModelPackageVersion"] for p in resp["ModelPackageSummaryList"]]

        self.assertEqual(window(CreationTimeAfter=t1 - minute, CreationTimeBefore=t1 + minute), [1, 2, 3])
        self.assertEqual(window(CreationTimeBefore=t1 - minute), [])
        self.assertEqual(window(CreationTimeAfter=t1 + minute), [])
        # Without a group filter SageMaker lists unversioned packages; Both shows the versions too.
        self.assertEqual(sm.list_model_packages()["ModelPackageSummaryList"], [])
        both = sm.list_model_packages(ModelPackageType="Both", NameContains="abalone", SortBy="Name")
        self.assertEqual(len(both["ModelPackageSummaryList"]), 3)

        # Tags on a version.
        sm.add_tags(ResourceArn=v2, Tags=[{"Key": "stage", "Value": "prod"}])
        self.assertEqual(sm.list_tags(ResourceArn=v2)["Tags"], [{"Key": "stage", "Value": "prod"}])
        sm.delete_tags(ResourceArn=v2, TagKeys=["stage"])
        self.assertEqual(sm.list_tags(ResourceArn=v2)["Tags"], [])

        # A group with versions is kept; deleting them frees it.
        with self.assertRaises(ClientError) as cm:
            sm.delete_model_package_group(ModelPackageGroupName="abalone")
        self.assertEqual(error_code(cm.exception), "ConflictException")
        for arn in (v1, v2, v3):
            sm.delete_model_package(ModelPackageName=arn)
        self.assertIsNone(latest_approved(sm, "abalone"))
        with self.assertRaises(ClientError) as cm:
            sm.describe_model_package(ModelPackageName=v2)
        self.assertEqual(error_code(cm.exception), "ValidationException")
        sm.delete_model_package_group(ModelPackageGroupName="abalone")

    def test_events(self):
        sm = self.sm
        sm.create_model_package_group(ModelPackageGroupName="evented")
        arn = self.register("evented")
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
        page = native_get("/api/v1/events?after=0")
        evs = [e for e in page["events"] if arn in e["resources"]]
        self.assertEqual([e["detail"]["ModelApprovalStatus"] for e in evs], ["PendingManualApproval", "Approved"])
        ev = evs[-1]
        self.assertEqual(ev["detail-type"], "SageMaker Model Package State Change")
        self.assertEqual(ev["source"], "aws.sagemaker")
        self.assertEqual(ev["detail"]["ModelPackageGroupName"], "evented")
        self.assertEqual(ev["detail"]["ModelPackageVersion"], 1)
        self.assertEqual(ev["detail"]["InferenceSpecification"], INFERENCE_SPEC)
        self.assertEqual(ev["detail"]["ApprovalDescription"], "ok")
        rest = native_get("/api/v1/events?after=%d" % evs[0]["cursor"])
        self.assertEqual(rest["events"][0]["cursor"], ev["cursor"])

    def test_bad_input(self):
        sm = self.sm
        sm.create_model_package_group(ModelPackageGroupName="strict")
        cases = [
            ("create_model_package_group", dict(ModelPackageGroupName="bad_name"), "ValidationException", "modelPackageGroupName"),
            ("create_model_package_group", dict(ModelPackageGroupName="x" * 64), "ValidationException", "63"),
            ("create_model_package", dict(ModelPackageGroupName="ghost"), "ValidationException", "ghost does not exist"),
            ("create_model_package", dict(ModelPackageGroupName="strict", ModelApprovalStatus="Yes"), "ValidationException", "enum value set"),
            ("create_model_package", dict(ModelPackageGroupName="strict", ModelPackageDescription="d" * 1025), "ValidationException", "modelPackageDescription"),
            ("create_model_package", dict(ModelPackageGroupName="strict", InferenceSpecification={"Containers": [{"Image": "i", "ModelDataUrl": "file:///m"}], "SupportedContentTypes": [], "SupportedResponseMIMETypes": []}), "ValidationException", "modelDataUrl"),
            ("describe_model_package", dict(ModelPackageName="strict/7"), "ValidationException", "does not exist"),
            ("list_model_packages", dict(ModelApprovalStatus="approved"), "ValidationException", "modelApprovalStatus"),
            ("update_model_package", dict(ModelPackageArn="arn:aws:sagemaker:%s:000000000000:model-package/strict/9" % REGION, ModelApprovalStatus="Approved"), "ValidationException", "does not exist"),
            ("update_model_package", dict(ModelPackageArn="arn:aws:sagemaker:%s:000000000000:model-package/strict/1" % REGION, ModelApprovalStatus="Sure"), "ValidationException", "modelApprovalStatus"),
        ]
        for op, args, code, text in cases:
            with self.subTest(op=op, args=str(args)[:80]):
                with self.assertRaises(ClientError) as cm:
                    getattr(sm, op)(**args)
                self.assertEqual(error_code(cm.exception), code)
                self.assertIn(text, cm.exception.response["Error"]["Message"])
        with self.assertRaises(ParamValidationError):
            sm.describe_model_package_group()
        self.assertEqual(sm.list_model_packages(ModelPackageGroupName="strict")["ModelPackageSummaryList"], [])


if __name__ == "__main__":
    unittest.main()
