"""The telephony service. Takes in PBX and cloud-telephony call events, keeps one record per call and chases missed calls."""
