"""Test doubles that are real servers (loopback HTTP), shared by several test modules."""
