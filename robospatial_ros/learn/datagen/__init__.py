"""Training data generation: RoboSpatial, SAT (dynamic) and Spatial-SSRL style items, writers and mixing."""
