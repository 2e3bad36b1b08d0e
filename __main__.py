"""The aisb Pulumi program: this stack's configuration -> one IotSecurityBaseline."""

import pulumi

from aisb import IotSecurityBaseline
from aisb.settings import BASELINE_NAME, load

baseline = IotSecurityBaseline(BASELINE_NAME, load().baseline_args())

pulumi.export("alertTopicArn", baseline.alert_topic_arn)
pulumi.export("iotLogGroup", baseline.iot_log_group_name)
pulumi.export("accessAnalyzerArn", baseline.access_analyzer_arn)
pulumi.export("certRotationFunctionArn", baseline.cert_rotation_function_arn)
pulumi.export("securityProfiles", baseline.security_profile_names)
pulumi.export("mitigationActions", baseline.mitigation_action_names)
pulumi.export("deviceLogs", baseline.device_logs)
