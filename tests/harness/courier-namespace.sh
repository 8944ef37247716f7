#!/bin/bash
# Courier-IMAP/POP for tests/harness/courier.py: runs as root inside `unshare --mount` (a private
# mount namespace), where overlay mounts add the unpacked packages to /usr and give /etc and /run
# writable layers in $INST; then authdaemond and one couriertcpd per port (IMAP, IMAPS, POP3).
# Env: ROOT (the unpacked courier-root), INST (instance folder), IMAP_PORT, IMAPS_PORT, POP_PORT,
# ENHANCEDIDLE (0 or 1). PIDs of what it starts go to $INST/daemons.pid (the harness stops them).
set -u
mount -t overlay overlay -o lowerdir=/usr:$ROOT/usr /usr
mount -t overlay overlay -o lowerdir=/etc:$ROOT/etc,upperdir=$INST/etc-up,workdir=$INST/etc-work /etc
mount -t overlay overlay -o lowerdir=/run,upperdir=$INST/run-up,workdir=$INST/run-work /run
mkdir -p /run/courier/authdaemon
# couriertls (STARTTLS) drops to user "courier": it exists in this namespace's /etc only
grep -q '^courier:' /etc/passwd || echo 'courier:x:8:8:courier:/nonexistent:/usr/sbin/nologin' >> /etc/passwd
grep -q '^courier:' /etc/group || echo 'courier:x:8:' >> /etc/group
/usr/sbin/makeuserdb || exit 1
( set -a; . /etc/courier/authdaemonrc; exec /usr/lib/courier/courier-authlib/authdaemond ) &
echo $! >> $INST/daemons.pid
for i in $(seq 1 100); do [ -S /run/courier/authdaemon/socket ] && break; sleep 0.05; done
TCPD="/usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup"
IMAPENV="set -a; . /etc/courier/imapd; . /etc/courier/imapd-ssl; TLS_CERTFILE=/etc/courier/imapd.pem; TLS_DHPARAMS=; TLS_CACHEFILE=; IMAP_ENHANCEDIDLE=$ENHANCEDIDLE"
env -i PATH=/usr/bin:/bin /bin/sh -c "$IMAPENV; IMAP_STARTTLS=YES; exec $TCPD $IMAP_PORT /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir" &
echo $! >> $INST/daemons.pid
env -i PATH=/usr/bin:/bin /bin/sh -c "$IMAPENV; IMAP_TLS=1; exec $TCPD $IMAPS_PORT /usr/bin/couriertls -server -tcpd /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir" &
echo $! >> $INST/daemons.pid
env -i PATH=/usr/bin:/bin /bin/sh -c "set -a; . /etc/courier/pop3d; . /etc/courier/pop3d-ssl; TLS_CERTFILE=/etc/courier/imapd.pem; TLS_DHPARAMS=; TLS_CACHEFILE=; POP3_STARTTLS=YES; exec $TCPD $POP_PORT /usr/lib/courier/courier/courierpop3login /usr/lib/courier/courier/courierpop3d Maildir" &
echo $! >> $INST/daemons.pid
wait
