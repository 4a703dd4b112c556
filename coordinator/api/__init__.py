"""The gRPC adapter: servicers that translate protobuf to engine calls and back."""
