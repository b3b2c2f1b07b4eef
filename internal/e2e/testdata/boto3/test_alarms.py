"""CloudWatch alarms driven by boto3's cloudwatch client, the way SageMaker deployment
guardrail scripts create and inspect them.

The server comes from the AWS_* variables the Go runner sets (a fresh server per script).
boto3 from Debian speaks CloudWatch's query protocol (form-encoded requests, XML answers).
"""

import datetime
import json
import os
import time
import unittest

import boto3
from botocore.exceptions import ClientError

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
NAMESPACE = "Sluice/E2E"
DIMS = [{"Name": "Service", "Value": "checkout"}]


def client():
    return boto3.client("cloudwatch", endpoint_url=ENDPOINT, region_name=REGION)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def wait_for_state(cw, name, state, timeout=5.0):
    """Poll DescribeAlarms until the alarm reaches state; return the alarm."""
    deadline = time.monotonic() + timeout
    while True:
        alarms = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if alarms and alarms[0]["StateValue"] == state:
            return alarms[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not reach {state}: {alarms}")
        time.sleep(0.05)


class AlarmLifecycle(unittest.TestCase):
    def test_alarm_fires_on_breaching_data(self):
        cw = client()
        name = "checkout-errors"
        cw.put_metric_alarm(
            AlarmName=name,
            AlarmDescription="more than 5 errors in 10 seconds",
            ActionsEnabled=True,
            AlarmActions=["arn:aws:sns:us-east-1:000000000000:pager"],
            Namespace=NAMESPACE,
            MetricName="Errors",
            Dimensions=DIMS,
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            Threshold=5.0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            Unit="Count",
            Tags=[{"Key": "team", "Value": "payments"}],
        )
        cw.get_waiter("alarm_exists").wait(AlarmNames=[name], WaiterConfig={"Delay": 1, "MaxAttempts": 5})
        alarm = wait_for_state(cw, name, "OK")  # no data, treated as not breaching
        self.assertEqual(alarm["AlarmArn"], f"arn:aws:cloudwatch:{REGION}:000000000000:alarm:{name}")
        self.assertEqual(alarm["Dimensions"], DIMS)
        self.assertEqual(alarm["Period"], 10)
        self.assertEqual(alarm["Threshold"], 5.0)
        self.assertEqual(alarm["TreatMissingData"], "notBreaching")
        self.assertEqual(alarm["AlarmActions"], ["arn:aws:sns:us-east-1:000000000000:pager"])
        self.assertIsInstance(alarm["StateUpdatedTimestamp"], datetime.datetime)

        cw.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {"MetricName": "Errors", "Dimensions": DIMS, "Value": 4.0, "Unit": "Count"},
                {"MetricName": "Errors", "Dimensions": DIMS, "Value": 3.0, "Unit": "Count", "Timestamp": now()},
            ],
        )
        started = time.monotonic()
        alarm = wait_for_state(cw, name, "ALARM")
        # A Sum over a "greater than" threshold is certain once crossed: no wait for the period.
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertTrue(alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoint [7.0"), alarm["StateReason"])
        data = json.loads(alarm["StateReasonData"])
        self.assertEqual(data["threshold"], 5.0)
        self.assertEqual(data["statistic"], "Sum")
        self.assertEqual(data["recentDatapoints"], [7.0])

        firing = cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]
        self.assertEqual([a["AlarmName"] for a in firing], [name])

        history = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
        summaries = [h["HistorySummary"] for h in history]
        self.assertEqual(summaries[0], "Alarm updated from OK to ALARM")
        self.assertEqual(summaries[-1], f'Alarm "{name}" created')
        updates = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate", ScanBy="TimestampAscending")["AlarmHistoryItems"]
        self.assertEqual([h["HistorySummary"] for h in updates],
                         ["Alarm updated from INSUFFICIENT_DATA to OK", "Alarm updated from OK to ALARM"])
        new_state = json.loads(updates[-1]["HistoryData"])["newState"]
        self.assertEqual(new_state["stateValue"], "ALARM")

        stats = cw.get_metric_statistics(
            Namespace=NAMESPACE, MetricName="Errors", Dimensions=DIMS,
            StartTime=now() - datetime.timedelta(minutes=5), EndTime=now() + datetime.timedelta(minutes=1),
            Period=60, Statistics=["Sum", "SampleCount", "Maximum", "Average"], Unit="Count",
        )
        self.assertEqual(stats["Label"], "Errors")
        self.assertEqual(sum(d["Sum"] for d in stats["Datapoints"]), 7.0)
        self.assertEqual(sum(d["SampleCount"] for d in stats["Datapoints"]), 2.0)
        self.assertEqual(stats["Datapoints"][0]["Unit"], "Count")

        # A drill: set the state by hand, see it in history.
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="drill", StateReasonData=json.dumps({"by": "e2e"}))
        self.assertEqual(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateReason"], "drill")

        cw.delete_alarms(AlarmNames=[name])
        self.assertEqual(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"], [])
        kept = cw.describe_alarm_history(AlarmName=name, HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]
        self.assertEqual(kept[0]["HistorySummary"], f'Alarm "{name}" deleted')

    def test_percentiles_from_values_and_counts(self):
        cw = client()
        cw.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[{"MetricName": "Latency", "Dimensions": DIMS, "Values": [10.0, 20.0, 500.0], "Counts": [900.0, 99.0, 1.0], "Unit": "Milliseconds"}],
        )
        stats = cw.get_metric_statistics(
            Namespace=NAMESPACE, MetricName="Latency", Dimensions=DIMS,
            StartTime=now() - datetime.timedelta(minutes=1), EndTime=now() + datetime.timedelta(minutes=1),
            Period=120, ExtendedStatistics=["p50", "p99", "p99.9"],
        )
        (dp,) = stats["Datapoints"]
        self.assertAlmostEqual(dp["ExtendedStatistics"]["p50"], 10.0, delta=0.1)
        self.assertAlmostEqual(dp["ExtendedStatistics"]["p99"], 20.0, delta=0.2)
        self.assertAlmostEqual(dp["ExtendedStatistics"]["p99.9"], 20.0, delta=0.2)
        metrics = cw.list_metrics(Namespace=NAMESPACE, MetricName="Latency")["Metrics"]
        self.assertEqual(metrics, [{"Namespace": NAMESPACE, "MetricName": "Latency", "Dimensions": DIMS}])


class GuardrailAlarms(unittest.TestCase):
    """The alarms a SageMaker blue/green deployment lists in AutoRollbackConfiguration."""

    def test_sagemaker_endpoint_alarms(self):
        cw = client()
        dims = [{"Name": "EndpointName", "Value": "churn-prod"}, {"Name": "VariantName", "Value": "AllTraffic"}]
        cw.put_metric_alarm(
            AlarmName="churn-prod-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Dimensions=dims,
            Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=0.01,
            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
        )
        cw.put_metric_alarm(
            AlarmName="churn-prod-latency", Namespace="AWS/SageMaker", MetricName="ModelLatency", Dimensions=dims,
            ExtendedStatistic="p99", Period=10, EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=250000.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold", EvaluateLowSampleCountPercentile="ignore",
        )
        pages = cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix="churn-prod", PaginationConfig={"PageSize": 1})
        alarms = [a for page in pages for a in page["MetricAlarms"]]
        self.assertEqual([a["AlarmName"] for a in alarms], ["churn-prod-5xx", "churn-prod-latency"])
        latency = alarms[1]
        self.assertEqual(latency["ExtendedStatistic"], "p99")
        self.assertNotIn("Statistic", latency)
        self.assertEqual(latency["DatapointsToAlarm"], 2)
        self.assertEqual(latency["EvaluateLowSampleCountPercentile"], "ignore")
        wait_for_state(cw, "churn-prod-5xx", "OK")
        # Updating keeps the state.
        cw.put_metric_alarm(
            AlarmName="churn-prod-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Dimensions=dims,
            Statistic="Average", Period=60, EvaluationPeriods=2, Threshold=0.05,
            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
        )
        updated = cw.describe_alarms(AlarmNames=["churn-prod-5xx"])["MetricAlarms"][0]
        self.assertEqual((updated["StateValue"], updated["Threshold"], updated["EvaluationPeriods"]), ("OK", 0.05, 2))
        cw.delete_alarms(AlarmNames=["churn-prod-5xx", "churn-prod-latency"])

    def test_errors(self):
        cw = client()
        base = dict(AlarmName="bad", Namespace=NAMESPACE, MetricName="Errors", Statistic="Sum", Period=10,
                    EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
        cases = [
            ("anomaly band", lambda: cw.put_metric_alarm(**{**base, "ComparisonOperator": "GreaterThanUpperThreshold"}), "ValidationError"),
            ("M above N", lambda: cw.put_metric_alarm(**{**base, "DatapointsToAlarm": 2}), "ValidationError"),
            ("both statistics", lambda: cw.put_metric_alarm(**{**base, "ExtendedStatistic": "p99"}), "InvalidParameterCombination"),
            ("missing alarm", lambda: cw.set_alarm_state(AlarmName="ghost", StateValue="ALARM", StateReason="x"), "ResourceNotFound"),
            ("reserved namespace", lambda: cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "Invocations", "Value": 1.0}]), "InvalidParameterValue"),
            ("both statistic lists", lambda: cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="Errors", StartTime=now(), EndTime=now() + datetime.timedelta(minutes=1),
                                                                      Period=60, Statistics=["Sum"], ExtendedStatistics=["p99"]), "InvalidParameterCombination"),
        ]
        for label, call, code in cases:
            with self.subTest(label):
                with self.assertRaises(ClientError) as ctx:
                    call()
                self.assertEqual(ctx.exception.response["Error"]["Code"], code, ctx.exception.response)
                self.assertTrue(ctx.exception.response["Error"]["Message"])


if __name__ == "__main__":
    unittest.main()
