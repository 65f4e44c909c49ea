package dev.ignition.guest;

/** What a VM runs. */
public sealed interface Guest permits FreestandingGuest, LinuxGuest {}
