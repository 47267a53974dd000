"""Responsibility agreements (责任状): 五定 content, versions, issue and signature, public verification."""
