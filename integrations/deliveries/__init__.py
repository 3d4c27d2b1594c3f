"""Delivering committed DomainEvents to their subscribers, one Delivery row each."""
