"""pyrmq.protocol"""
