"""Deployment: ONNX export of a run (:mod:`.onnx_export`, torch) and its predictor (:mod:`.runtime`).

Nothing is imported here, so ``anotrans.export.runtime`` loads without torch.
"""
