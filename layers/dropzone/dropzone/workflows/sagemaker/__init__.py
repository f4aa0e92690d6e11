"""SageMaker asynchronous inference: a dropped file becomes a tracked InvokeEndpointAsync."""
