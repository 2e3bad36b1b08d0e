"""One program, many regions: the AISB baseline in each region the fleet runs in.

Every region gets its own explicit `aws` and `aws-native` providers; passing both to the
baseline makes every resource and lookup under it use that region. Account-and-region
singletons (IoT logging options, the Device Defender audit configuration, the account
Access Analyzer) are created once per region here, so no other stack may manage them.
"""

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from aisb import IotSecurityBaseline

config = pulumi.Config()
regions: list[str] = config.get_object("regions") or ["us-east-1", "eu-central-1"]
emails: list[str] = config.require_object("alertEmails")

for region in regions:
    providers = [
        aws.Provider(f"aws-{region}", region=region),
        aws_native.Provider(f"aws-native-{region}", region=region),
    ]
    baseline = IotSecurityBaseline(
        f"aisb-{region}",
        {
            "alert_emails": emails,
            "iot_log_level": "ERROR",
            # Only the first region keeps the account's Access Analyzer in this example.
            "access_analyzer": region == regions[0],
            "tags": {"fleet": "example", "region": region},
        },
        opts=pulumi.ResourceOptions(providers=providers),
    )
    pulumi.export(f"{region}:alertTopicArn", baseline.alert_topic_arn)
