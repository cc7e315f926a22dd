"""Generated protobuf modules (tools/gen_proto.py); do not edit."""
