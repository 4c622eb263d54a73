"""Tests of jlangevin.kernels (a package, so that file names may repeat across test folders)."""
