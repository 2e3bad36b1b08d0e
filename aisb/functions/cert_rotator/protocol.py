"""The rotation protocol's names, shared by the functions, the component and the ``aisb``
command (stdlib only: the Pulumi program imports it without boto3)."""

TOPIC_PREFIX = "aisb/rotation"
"""Every rotation topic is ``aisb/rotation/<thing name>/<create|commit>[/accepted|/rejected]``."""
JOB_PREFIX = "aisb-rotation-"
"""Rotation job ids start with this (the job events rule matches only them)."""
HANDLER = "rotate-certificate.py"
"""The Device Client handler the rotation job runs."""
KEY_ALGORITHMS = ("EC-P256", "RSA-2048")
"""The key algorithms a rotation job may ask for: what the device generates."""
