"""Generated Python stubs of the streamrec protobuf contracts (see protos/)."""
