"""One Pulumi ComponentResource per AISB control."""
