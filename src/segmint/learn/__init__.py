"""Learning about profiles: behavioural features, RFM, clustering into personas."""
