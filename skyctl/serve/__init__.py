"""`skyctl serve`: the controller, replica manager, autoscalers, placer, prober and load balancer.

Data flows one way: the CLI writes a service and its versions to the state database and starts one
controller process per service; the controller reconciles the database with the provider every tick
(autoscaler decisions -> placer -> provider.launch / terminate -> prober); the load balancer, a process of
its own, reads the READY set from the database and writes request counts back, so traffic keeps flowing
while the controller restarts.
"""
