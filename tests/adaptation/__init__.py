"""Tests of jlangevin.adaptation (a package, so that file names may repeat across test folders)."""
