"""The ROS 2 nodes: each declares parameters, converts messages, calls the core and publishes."""
