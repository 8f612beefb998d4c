"""The RoboSpatial semantics: configuration, context and compatibility on a prepared scene view."""
