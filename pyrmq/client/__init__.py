"""pyrmq.client"""
