"""The keel coordinator: owns durable workflow state and hands work to workers."""
