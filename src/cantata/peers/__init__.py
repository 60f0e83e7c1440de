"""Local peers: real servers for tests, the demo and benchmarks."""
