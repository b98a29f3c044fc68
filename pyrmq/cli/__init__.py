"""pyrmq.cli"""
