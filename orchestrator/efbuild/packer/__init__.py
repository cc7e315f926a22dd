"""The encoderfile packer: append a model to an encoderfile-runtime base binary.

Modules, one concern each: config (encoderfile.yml), assets (model_config, tokenizer and
transform artifacts), onnx_check, base_binary (resolution and checks), download, build
(the pipeline), inspect, errors, cli (the `encoderfile` command).
"""
