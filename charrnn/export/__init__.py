"""Sharing a model beyond charrnn: `charrnn export` to ONNX, safetensors, or one HTML page."""
