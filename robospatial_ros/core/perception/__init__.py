"""RGB-D perception: frames -> point cloud -> support plane -> objects -> Scene."""
