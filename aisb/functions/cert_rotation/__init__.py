"""The certificate-rotation monitor (AISB #6); handler.handler is the Lambda entry point."""
