
O
-
readonly!J

readonlybool	R
false

source
sourcestring