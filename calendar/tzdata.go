package calendar

// Every process that judges hours (the worker's workflows, the starter's
// validation) knows every IANA zone, on any machine or container image: the zone
// database is embedded as a fallback to the system's.
import _ "time/tzdata"
