"""harbour: a service that exists only as servicekit's test of `ServiceApp` (see
libs/servicekit/tests/test_service_app.py). Its manifest uses every kind of reference; the
modules also hold the wrong kinds of things the tests name to be refused."""
