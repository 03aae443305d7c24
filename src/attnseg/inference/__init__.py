"""Inference: checkpoints read back, test-time inference modes, image files, ONNX export."""
