"""restorer"""
