"""Reports: the consumer-experience report, the merchant scorecard and the governance-impact
estimate (difference in differences against matched merchants that were not penalised)."""
