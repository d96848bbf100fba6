"""Network definitions: the generator zoo and the metric networks, one module each.

Every module keeps the state_dict key layout of the code it reproduces, so published weights
load unchanged, and offers `build(config)` and `infer_config(shapes)` for the registry in
`models.architectures`.
"""
