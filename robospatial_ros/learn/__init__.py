"""The researcher's toolkit, outside the robot runtime: data generation, evaluation, training."""
