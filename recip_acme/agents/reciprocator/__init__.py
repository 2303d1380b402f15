"""The Reciprocator agent: a reciprocal-reward adapter around a standard Acme learner."""
