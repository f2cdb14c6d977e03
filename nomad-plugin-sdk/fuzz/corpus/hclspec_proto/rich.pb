
™
g
mount^2\
mount"Q
O

source
sourcestring
-
readonly!J

readonlybool	R
false
<
volume2B0
volumename 


driver
driverstring
*
cpu_hard_limit
cpu_hard_limitbool
)
devices
deviceslist(map(string))

image
imagestring

ratio
rationumber
8
logging-"+
logging 


driver
driverstring
*
shell!J

shellstring
R
"bash"

port
portnumber

weight
weightnumber
!
labels
labelsmap(string)

args
argslist(string)