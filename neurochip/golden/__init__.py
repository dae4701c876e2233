"""Golden models written for obviousness: the specification in executable form."""
