"""Publish a pipeline as one ONNX graph, served by onnxruntime without scikit-learn.

convert: the pipeline -> one graph; samples + parity: the gate that refuses a graph which does
not predict what scikit-learn predicts; support: where ONNX can run (runtimes, deps layers);
publishing: all of it in one call for publish-model (prepare_onnx).
skl2onnx, onnx and onnxruntime are imported lazily (the ``onnx`` extra).
"""
