"""Generated from proto/encoderfile/ by tools/gen_proto.py; do not edit."""
