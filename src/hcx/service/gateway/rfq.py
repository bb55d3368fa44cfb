"""The gateway's RFQ desk: ``hcx.protocol.rfq``, shared with the in-process simulator."""

from hcx.protocol.rfq import Quote, Rfq, RfqDesk, quote_message, request_message

__all__ = ["Quote", "Rfq", "RfqDesk", "quote_message", "request_message"]
