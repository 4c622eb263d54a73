"""Tests of jlangevin.run (a package, so that file names may repeat across test folders)."""
